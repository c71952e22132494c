"""HTTP APIs: the handler factories behind the Lambda shims and the local server."""
