"""appservice-operator: a Kubernetes operator for example.com, built with kubeloop.

``appservice_operator.operator`` holds the operator; ``api`` the custom resources; ``controllers`` their
reconciles. ``python -m appservice_operator`` runs the manager.
"""
