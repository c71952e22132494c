"""AWS adapters (Secrets Manager, Firehose, Athena), built on boto3 clients handed in."""
