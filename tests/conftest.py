"""Shared test configuration: the kubeloop pytest plugin provides the control-plane fixtures."""
