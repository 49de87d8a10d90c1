"""The tasks of the FastAPI example: imported by the web app (to enqueue) and
by the workers (`rtask worker examples.fastapi_producer.tasks:app`)."""

from __future__ import annotations

import asyncio
import hashlib
import os

import rtask

app = rtask.App(
    os.environ.get("RTASK_REDIS_URL", "memory://fastapi-example"), prefix="example-fastapi"
)


@app.task(name="emails.welcome", queue="emails", max_attempts=5)
async def send_welcome(email: str) -> str:
    await asyncio.sleep(0.01)  # stands for a call to a mail API
    return f"welcome mail sent to {email}"


@app.task(name="reports.checksum", blocking=True)
def checksum(text: str, rounds: int = 1000) -> str:
    """CPU work in a sync function: a worker runs it in a thread."""
    digest = text.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()
