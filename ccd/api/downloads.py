"""CSV downloads streamed in chunks (the CDR export, a campaign's compliance evidence): the
headers every such file is sent with, and the body written chunk by chunk so that a failure
after the status line cannot pass for a whole file."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable

from aiohttp import hdrs, web

from ccd.api.context import REQUEST_ID


async def start_csv_download(request: web.Request, filename: str) -> web.StreamResponse:
    """Sends the status line and headers of a CSV attachment named ``filename`` that no
    cache may store. The body is chunked, except for HEAD: then the response is complete
    already and the handler returns it as it is (``wants_body`` is False)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8; header=present",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            # The access-log middleware cannot add it once the response is streaming.
            "X-Request-ID": request.get(REQUEST_ID, ""),
        }
    )
    if not wants_body(request):
        # aiohttp would send a chunked body even to HEAD, corrupting the connection.
        await response.prepare(request)
        await response.write_eof()
        return response
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


def wants_body(request: web.Request) -> bool:
    return request.method != hdrs.METH_HEAD


async def stream_csv_body(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterable[tuple[bytes, int]],
    cut_short: Callable[[Exception, int], None],
) -> int | None:
    """Writes ``chunks`` (CSV text and how many rows it holds) and ends the body; returns
    the rows written. When a chunk cannot be made, ``cut_short(exc, rows_written)`` is told,
    the connection is aborted and None returned: the status line is sent, so the only
    honest signal left is an unterminated chunked body, which the client cannot mistake for
    a whole file. A client that went away (``ConnectionResetError``) is not caught."""
    written = 0
    try:
        async for text, rows in chunks:
            await response.write(text)
            written += rows
    except ConnectionResetError:
        raise  # the client went away; nothing to tell it
    except Exception as exc:
        cut_short(exc, written)
        if request.transport is not None:
            request.transport.abort()
        return None
    await response.write_eof()
    return written
