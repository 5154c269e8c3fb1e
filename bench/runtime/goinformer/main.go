// goinformer: client-go's side of the kubeloop runtime benchmark (bench/runtime/run.py).
//
// It lists and watches ConfigMaps and/or Pods of one namespace with a SharedInformerFactory (typed
// objects in the informer's indexer, client-go defaults), waits for the caches to sync, lets the
// process settle, runs a GC and prints one JSON line with its RSS from /proc/self/status.
//
//	goinformer -kubeconfig KUBECONFIG -namespace NS -kinds configmaps,pods [-strip] [-settle 1s]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func status(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line[len(field)+1:])
			if len(parts) > 0 {
				v, _ := strconv.ParseInt(parts[0], 10, 64)
				return v * 1024
			}
		}
	}
	return -1
}

// stripManagedFields is cache.TransformFunc dropping metadata.managedFields (controller-runtime's
// cache.TransformStripManagedFields).
func stripManagedFields(obj interface{}) (interface{}, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig")
	namespace := flag.String("namespace", "", "namespace to watch")
	kinds := flag.String("kinds", "configmaps,pods", "comma-separated: configmaps, pods")
	strip := flag.Bool("strip", false, "drop metadata.managedFields with a transform")
	settle := flag.Duration("settle", time.Second, "wait after sync before measuring")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := []informers.SharedInformerOption{informers.WithNamespace(*namespace)}
	if *strip {
		opts = append(opts, informers.WithTransform(stripManagedFields))
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, opts...)
	var stores []cache.Store
	for _, k := range strings.Split(*kinds, ",") {
		var inf cache.SharedIndexInformer
		switch strings.TrimSpace(k) {
		case "configmaps":
			inf = factory.Core().V1().ConfigMaps().Informer()
		case "pods":
			inf = factory.Core().V1().Pods().Informer()
		case "":
			continue
		default:
			fmt.Fprintln(os.Stderr, "unknown kind", k)
			os.Exit(2)
		}
		// a no-op handler, as a controller would register
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(interface{}) {}})
		stores = append(stores, inf.GetStore())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	syncS := time.Since(t0).Seconds()
	time.Sleep(*settle)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := 0
	for _, s := range stores {
		n += len(s.List())
	}
	out, _ := json.Marshal(map[string]interface{}{
		"objects":    n,
		"rss":        status("VmRSS"),
		"hwm":        status("VmHWM"),
		"heap_inuse": ms.HeapInuse,
		"heap_alloc": ms.HeapAlloc,
		"sync_s":     syncS,
		"go":         runtime.Version(),
	})
	fmt.Println(string(out))
}
