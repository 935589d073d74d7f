"""Headless Chromium driven over the DevTools protocol (a websocket, with aiohttp): enough
to open a page, type, click and read what it shows. Debian's ``chromium`` package;
``CHROMIUM`` is None when it is not installed (tests skip and say so)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium")
NOT_INSTALLED = "chromium is not installed (apt-get install chromium; scripts/test installs it)"
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0


class BrowserError(Exception):
    """The browser refused a command, or a script on the page threw."""


class Page:
    """One tab. ``log`` collects console messages as ``(type, text)``, browser log entries
    (CSP reports among them) as ``("level:source", text)`` and uncaught exceptions as
    ``("exception", details)``."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, session_id: str) -> None:
        self._socket = socket
        self._session_id = session_id
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.log: list[tuple[str, str]] = []

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = reply
        await self._socket.send_str(
            json.dumps(
                {
                    "id": message_id,
                    "sessionId": self._session_id,
                    "method": method,
                    "params": params,
                }
            )
        )
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            answer = await reply
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def _dispatch(self, message: dict[str, Any]) -> None:
        reply = self._pending.pop(message.get("id", -1), None)
        if reply is not None:
            if not reply.done():
                reply.set_result(message)
            return
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.log.append((params["type"], text))
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.log.append((f"{entry['level']}:{entry['source']}", entry["text"]))
        elif method == "Runtime.exceptionThrown":
            self.log.append(("exception", json.dumps(params["exceptionDetails"])[:2000]))

    def script_problems(self) -> list[tuple[str, str]]:
        """Uncaught exceptions, console errors and anything the browser refused (CSP);
        not failed requests (a 404 or 503 the page handles is not a problem)."""
        return [
            (kind, text)
            for kind, text in self.log
            if kind in ("exception", "error")
            or (kind.startswith("error:") and kind != "error:network")
        ]

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` (a promise is awaited)."""
        result = await self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.command("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", within_s=15)

    async def wait_for(self, expression: str, *, within_s: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; its value. TimeoutError names it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        value: Any = None
        while True:
            with contextlib.suppress(BrowserError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if loop.time() > deadline:
                raise TimeoutError(f"not true within {within_s} s: {expression} (last: {value!r})")
            await asyncio.sleep(0.05)

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the element and type ``text`` as a keyboard would insert it."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.command("Input.insertText", text=text)

    async def click(self, selector: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Page]:
    """A fresh headless Chromium (its own profile in a temporary directory) with one tab."""
    assert CHROMIUM is not None, NOT_INSTALLED
    with tempfile.TemporaryDirectory(prefix="ccd-chromium-", ignore_cleanup_errors=True) as profile:
        process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",  # tests run as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            endpoint = await _devtools_endpoint(Path(profile), process)
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(endpoint, max_msg_size=0) as socket,
                _browser(socket) as page,
            ):
                yield page
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _devtools_endpoint(profile: Path, process: asyncio.subprocess.Process) -> str:
    """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
    marker = profile / "DevToolsActivePort"
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            if process.returncode is not None:
                raise BrowserError(f"chromium exited with status {process.returncode}")
            lines = marker.read_text().split() if marker.exists() else []
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def _browser(socket: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Page]:
    ids = itertools.count(1_000_000)
    replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
    pages: dict[str, Page] = {}

    async def read() -> None:
        async for frame in socket:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            session = message.get("sessionId")
            if session in pages:
                pages[session]._dispatch(message)
                continue
            reply = replies.pop(message.get("id", -1), None)
            if reply is not None and not reply.done():
                reply.set_result(message)

    async def browser_command(method: str, **params: Any) -> dict[str, Any]:
        message_id = next(ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        replies[message_id] = reply
        await socket.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            answer = await reply
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    reader = asyncio.create_task(read())
    try:
        target = await browser_command("Target.createTarget", url="about:blank")
        attached = await browser_command(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(socket, attached["sessionId"])
        pages[attached["sessionId"]] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.command(f"{domain}.enable")
        yield page
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
