"""What every layer of the server shares, as k8s.io/apimachinery: ``errors`` (``StatusError`` and the
real server's Status bodies), ``meta`` (names, UIDs, timestamps, label and name validation) and
``selectors`` (the label and field selector grammar)."""
