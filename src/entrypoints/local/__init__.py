"""The local stack: the product's handlers served on one machine with embedded defaults."""
