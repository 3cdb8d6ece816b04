"""`AnalyticsConfig`, the seed API's configuration object, for `AnalyticsClient(config=...)`.

What each part means to this SDK, which talks to the server over HTTP:
- `api_key`, `secret_key`, `host`, `tenant_id`, `timeout`, `max_retries`, `flush_interval`: the
  client's arguments of the same names; unset ones come from the environment (`ANALYTICS_API_KEY`,
  `ANALYTICS_SECRET_KEY`, `ANALYTICS_HOST`, `ANALYTICS_TENANT_ID`) or the client's defaults.
- `processing.batch_size`: the client's `flush_at` (items per batch; the server splits nothing,
  and a batch it finds too large is halved and sent again). `processing.max_workers`: the most
  HTTP connections the client opens at once (its pool size). Batches still leave one at a time, in
  order, from the one background sender; workers only let secret-key requests run side by side.
- `database`: accepted so that seed configurations load, and not used: the client never connects
  to a database (the server owns its own).
- `environment`: kept for your code (and sent nowhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AnalyticsConfig:
    @dataclass
    class DatabaseConfig:
        """Accepted for compatibility; the client does not use it (see the module's docstring)."""

        url: str | None = None
        pool_size: int = 10

    @dataclass
    class ProcessingConfig:
        batch_size: int = 100  # -> flush_at
        max_workers: int | None = None  # -> the HTTP connection pool's size (None: httpx's default, 100)

    environment: str = "development"
    api_key: str | None = None
    secret_key: str | None = None
    host: str | None = None
    tenant_id: str | None = None
    timeout: float = 10.0
    max_retries: int = 8
    flush_interval: float = 1.0
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)

    def __post_init__(self) -> None:
        if self.processing.batch_size < 1 or (self.processing.max_workers or 1) < 1:
            raise ValueError("processing.batch_size and processing.max_workers must be positive")
