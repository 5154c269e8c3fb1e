/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	appv1 "example.com/appservice-operator/api/v1"
)

// ManagedBy is the value of the app.kubernetes.io/managed-by label on the children.
const ManagedBy = "appservice-operator"

// AppServiceReconciler reconciles a AppService object
type AppServiceReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	// MaxConcurrentReconciles is the number of workers (0: controller-runtime's default, 1).
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=app.example.com,resources=appservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=app.example.com,resources=appservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=app.example.com,resources=appservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core,resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconcile makes the AppService's Deployment and NodePort Service match its spec, and reports
// ready replicas, node ports and the Ready condition in its status.
//
// For more details, check Reconcile and its Result here:
// - https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.21.0/pkg/reconcile
func (r *AppServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	app := &appv1.AppService{}
	if err := r.Get(ctx, req.NamespacedName, app); err != nil {
		// Deleted: its children go with it (owner references, garbage collection).
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, deployment, func() error {
		mutateDeployment(app, deployment)
		return controllerutil.SetControllerReference(app, deployment, r.Scheme)
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	log.V(1).Info("deployment", "operation", op)

	service := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace}}
	op, err = controllerutil.CreateOrUpdate(ctx, r.Client, service, func() error {
		mutateService(app, service)
		return controllerutil.SetControllerReference(app, service, r.Scheme)
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	log.V(1).Info("service", "operation", op)

	ready := deployment.Status.ReadyReplicas
	app.Status.ReadyReplicas = ready
	app.Status.NodePorts = nil
	for _, port := range service.Spec.Ports {
		if port.NodePort != 0 {
			app.Status.NodePorts = append(app.Status.NodePorts, port.NodePort)
		}
	}
	message := fmt.Sprintf("%d/%d replicas ready", ready, app.Spec.Size)
	condition := metav1.Condition{
		Type:               "Ready",
		Status:             metav1.ConditionFalse,
		Reason:             "Progressing",
		Message:            message,
		ObservedGeneration: app.Generation,
	}
	if ready >= app.Spec.Size {
		condition.Status = metav1.ConditionTrue
		condition.Reason = "Available"
	}
	changed := meta.SetStatusCondition(&app.Status.Conditions, condition)
	if err := r.Status().Update(ctx, app); err != nil {
		return ctrl.Result{}, err
	}
	if changed {
		r.Recorder.Eventf(app, corev1.EventTypeNormal, "Reconciled", "Deployment and Service in sync; %s", message)
	}
	return ctrl.Result{}, nil
}

// labelsFor returns the labels of the app's pods, which the Service and the Deployment select.
func labelsFor(app *appv1.AppService) map[string]string {
	return map[string]string{"app.kubernetes.io/name": app.Name, "app.kubernetes.io/managed-by": ManagedBy}
}

// mutateDeployment sets what the operator decides in the Deployment: spec.size replicas of spec.image.
func mutateDeployment(app *appv1.AppService, deployment *appsv1.Deployment) {
	labels := labelsFor(app)
	if deployment.Labels == nil {
		deployment.Labels = map[string]string{}
	}
	for k, v := range labels {
		deployment.Labels[k] = v
	}
	replicas := app.Spec.Size
	deployment.Spec.Replicas = &replicas
	if deployment.CreationTimestamp.IsZero() { // the selector is immutable
		deployment.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	}
	deployment.Spec.Template.Labels = labels
	if len(deployment.Spec.Template.Spec.Containers) != 1 {
		deployment.Spec.Template.Spec.Containers = []corev1.Container{{}}
	}
	container := &deployment.Spec.Template.Spec.Containers[0]
	container.Name = "app"
	container.Image = app.Spec.Image
	container.Ports = nil
	for _, port := range app.Spec.Ports {
		container.Ports = append(container.Ports, corev1.ContainerPort{ContainerPort: port.TargetPort, Protocol: corev1.ProtocolTCP})
	}
}

// mutateService sets what the operator decides in the NodePort Service exposing spec.ports.
func mutateService(app *appv1.AppService, service *corev1.Service) {
	labels := labelsFor(app)
	if service.Labels == nil {
		service.Labels = map[string]string{}
	}
	for k, v := range labels {
		service.Labels[k] = v
	}
	service.Spec.Type = corev1.ServiceTypeNodePort
	service.Spec.Selector = labels
	allocated := map[int32]int32{}
	for _, port := range service.Spec.Ports {
		allocated[port.Port] = port.NodePort
	}
	service.Spec.Ports = nil
	for _, port := range app.Spec.Ports {
		servicePort := corev1.ServicePort{
			Name:       fmt.Sprintf("port-%d", port.Port),
			Protocol:   corev1.ProtocolTCP,
			Port:       port.Port,
			TargetPort: intstr.FromInt32(port.TargetPort),
			NodePort:   allocated[port.Port], // keep what the server allocated
		}
		if port.NodePort != nil {
			servicePort.NodePort = *port.NodePort
		}
		service.Spec.Ports = append(service.Spec.Ports, servicePort)
	}
}

// SetupWithManager sets up the controller with the Manager.
func (r *AppServiceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&appv1.AppService{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Named("appservice").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}
