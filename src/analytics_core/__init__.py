"""Pure domain of the analytics backend: values, rules, use cases and the ports they need."""
