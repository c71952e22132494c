"""Local adapters: what stands in for AWS services when the product runs on one machine."""
