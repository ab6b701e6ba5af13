"""The /healthz reference: a plain FastAPI app, one route returning a dict, no middleware."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    from common import serve

    serve(app)
