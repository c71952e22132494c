"""The CDK constructs of the analytics backend: one stack, one construct per concern.

`settings` reads the CDK context, `stack.AnalyticsStack` composes the rest. Nothing here
imports the Lambda handlers: the functions are referenced by handler strings only.
"""
