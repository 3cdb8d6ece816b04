"""Every ```python block of the SDK's README runs, in order, in one namespace, against the real
server: the examples cannot rot. HOST, WRITE_KEY and SECRET_KEY are given; top-level `await` works."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "sdk" / "python" / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_readme_examples_run(sdk_tenant, host):
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) >= 5, "the README should show the SDK at work"
    namespace = {"HOST": host, "WRITE_KEY": sdk_tenant.write_key, "SECRET_KEY": sdk_tenant.secret_key,
                 "__name__": "readme"}

    async def run_all() -> None:
        for number, source in enumerate(blocks, 1):
            code = compile(source, f"README.md block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)  # noqa: S307 - our own README
            if asyncio.iscoroutine(result):
                await result

    asyncio.run(run_all())
