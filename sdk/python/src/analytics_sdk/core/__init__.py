"""The seed API's `core` package: `analytics_sdk.core.config.AnalyticsConfig`."""
