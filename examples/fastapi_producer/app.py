"""An async web service (FastAPI) that enqueues jobs and reports on them.

uvicorn examples.fastapi_producer.app:api
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import rtask

from .tasks import app, checksum, send_welcome


@asynccontextmanager
async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
    yield
    await app.aclose()  # the async client of this event loop


api = FastAPI(title="rtask FastAPI producer", lifespan=lifespan)


class Signup(BaseModel):
    email: str


class Checksum(BaseModel):
    text: str
    rounds: int = 1000


@api.post("/signups", status_code=202)
async def signup(body: Signup) -> dict[str, str]:
    """Answer at once; a worker sends the mail."""
    job = await send_welcome.enqueue(body.email)
    return {"job_id": job.id, "queue": job.queue}


@api.post("/checksums")
async def checksum_now(body: Checksum, wait_s: float = 10.0) -> dict[str, Any]:
    """Enqueue and wait for the result (woken by the worker's notification)."""
    job = await checksum.enqueue(body.text, body.rounds)
    try:
        return {"job_id": job.id, "checksum": await job.result(timeout=wait_s)}
    except TimeoutError:
        raise HTTPException(504, f"job {job.id} still running") from None


@api.get("/jobs/{queue}/{job_id}")
async def job_status(queue: str, job_id: str) -> dict[str, Any]:
    try:
        info = await (await app.job(job_id, queue)).info()
    except rtask.JobNotFound:
        raise HTTPException(404, "no such job") from None
    except rtask.InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    return {
        "id": job_id,
        "status": info.status.value,
        "attempt": info.attempt,
        "result": info.result,
    }
