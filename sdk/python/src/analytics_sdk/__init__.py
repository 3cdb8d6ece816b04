"""The async Python SDK of the analytics backend: events and metric values sent in the background in
batches, with retries; the query, metrics, dashboards, reports, segments and tenant APIs with typed
results and typed errors.

    async with AnalyticsClient(api_key="wk_…", host="https://analytics.example.com") as client:
        await client.events.track("Signed Up", distinct_id="user-1", properties={"plan": "pro"})
"""

from analytics_sdk import errors, models
from analytics_sdk._batcher import FlushResult, Stats
from analytics_sdk.client import AnalyticsClient, SyncAnalyticsClient
from analytics_sdk.core.config import AnalyticsConfig

__all__ = ["AnalyticsClient", "AnalyticsConfig", "FlushResult", "Stats", "SyncAnalyticsClient", "errors",
           "models"]
__version__ = "0.1.0"
