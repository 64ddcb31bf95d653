"""A bound on the requests that run Django code at once in one server process.

Django runs each request's synchronous code in a thread of its own (asgiref gives every request
a ThreadSensitiveContext, hence a one-thread executor), so requests run in parallel, and nothing
bounds how many: a burst would start as many threads, each wanting a database connection from a
pool of 10. Requests wait here, in the event loop and holding nothing, for one of WEB_THREADS
slots. Their bodies are read before (landed.server.body), so a slow client never holds one.
"""

import asyncio

from landed.server.types import ASGIApp, Message, Receive, Scope, Send


class RequestSlots:
    """ASGI middleware: at most `slots` requests in the application at once."""

    def __init__(self, app: ASGIApp, slots: int) -> None:
        self.app = app
        self.semaphore = asyncio.Semaphore(slots)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.semaphore.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.semaphore.release()

        async def send_releasing(message: Message) -> None:
            # The view has run once its answer starts: a client slow to read the answer
            # must not keep the slot.
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()
