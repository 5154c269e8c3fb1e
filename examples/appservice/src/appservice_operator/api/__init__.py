"""The custom resources of appservice-operator: a module per API group and version
(``<group>_<version>.py``), each resource a ``crd.CustomResource`` model.
"""
