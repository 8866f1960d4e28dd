"""The archive: S3-compatible object storage (or a local directory) holding runs, and their retention."""
