"""The AppService operator: an AppService becomes a Deployment and a NodePort Service, kept in sync."""
