"""The Kubernetes source: connect, discover which catalog kinds are served, list them page by page."""
