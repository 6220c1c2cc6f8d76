"""A Streamlit client that speaks the websocket protocol (protobuf BackMsg and ForwardMsg).

A browser tab is one websocket on /_stcore/stream: it sends a BackMsg with `rerun_script`
for every interaction and receives ForwardMsgs until `script_finished`. This client does
the same without drawing anything, so one process can drive hundreds of sessions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED_RUN = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
FINISHED_FRAGMENT = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
FINISHED_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
# Limit on a single rerun: a server that stops responding fails the measure instead of hanging it.
RERUN_TIMEOUT_SECONDS = 60.0


class ProtocolError(RuntimeError):
    """Error raised when the server closes the socket, draws an exception or lacks an expected widget."""


@dataclass
class Widget:
    """A widget the last run drew: its element id, kind, label and fragment."""

    id: str
    kind: str
    label: str
    fragment_id: str


@dataclass
class RunResult:
    """Outcome of one rerun: seconds from request to `script_finished`, messages and drawn exceptions."""

    seconds: float
    messages: int
    exceptions: list[str] = field(default_factory=list)


class StreamlitSession:
    """One browser tab: a websocket session with its widget values kept between reruns."""

    def __init__(self, base_url: str, page: str = "", cookies: dict[str, str] | None = None) -> None:
        self.ws_url = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.base_url = base_url
        self.page_name = page
        self.cookies = cookies or {}
        self.page_script_hash = ""
        self.widgets: dict[str, Widget] = {}
        self.values: dict[str, str] = {}
        self._socket: websockets.ClientConnection | None = None

    async def connect(self) -> RunResult:
        """Open the websocket and run the page once, as a browser does on load."""
        headers = {"Origin": self.base_url}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        self._socket = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            additional_headers=headers,
            max_size=None,
            compression=None,
            open_timeout=RERUN_TIMEOUT_SECONDS,
            # A busy server acknowledges a close late; the session ends on the server either way.
            close_timeout=2,
            ping_interval=None,
        )
        return await self.rerun()

    async def close(self) -> None:
        """Close the websocket; the server then ends the session."""
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    def widget(self, key: str) -> Widget:
        """Return the widget drawn with a user key, whose element id ends with that key."""
        for widget in self.widgets.values():
            if widget.id.endswith("-" + key):
                return widget
        raise ProtocolError(f"widget key {key!r} not found in the last run; drawn: {sorted(self.widgets)[:20]}")

    def set_text(self, key: str, value: str) -> None:
        """Type into a text input, to be sent with the next rerun."""
        self.values[self.widget(key).id] = value

    async def click(self, key: str) -> RunResult:
        """Click a button: one rerun with its trigger set, within the button's fragment if it has one."""
        widget = self.widget(key)
        return await self.rerun(trigger=widget.id, fragment_id=widget.fragment_id)

    async def rerun(self, trigger: str | None = None, fragment_id: str = "") -> RunResult:
        """Send `rerun_script` with the current widget values and wait for the run to finish."""
        if self._socket is None:
            raise ProtocolError("rerun before connect")
        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        state.page_name = self.page_name
        state.page_script_hash = self.page_script_hash
        state.fragment_id = fragment_id
        state.context_info.locale = "en-GB"
        state.context_info.timezone = "Europe/Amsterdam"
        for widget_id, value in self.values.items():
            entry = state.widget_states.widgets.add()
            entry.id = widget_id
            entry.string_value = value
        if trigger is not None:
            entry = state.widget_states.widgets.add()
            entry.id = trigger
            entry.trigger_value = True

        started = time.perf_counter()
        await self._socket.send(message.SerializeToString())
        return await asyncio.wait_for(self._receive_run(started, bool(fragment_id)), RERUN_TIMEOUT_SECONDS)

    async def _receive_run(self, started: float, fragment: bool) -> RunResult:
        assert self._socket is not None
        count = 0
        exceptions: list[str] = []
        if not fragment:
            self.widgets = {}
        while True:
            try:
                data = await self._socket.recv()
            except websockets.ConnectionClosed as error:
                raise ProtocolError(f"websocket closed during a rerun: {error}") from error
            count += 1
            forward = ForwardMsg()
            forward.ParseFromString(data)
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                # With st.navigation the page that ran is named here; new_session names the entry script.
                self.page_script_hash = forward.navigation.page_script_hash
            elif kind == "delta":
                self._record_delta(forward, exceptions)
            elif kind == "script_finished":
                status = forward.script_finished
                if status in (FINISHED_RUN, FINISHED_FRAGMENT):
                    return RunResult(time.perf_counter() - started, count, exceptions)
                if status != FINISHED_FOR_RERUN:
                    raise ProtocolError(f"script finished with status {status}")

    def _record_delta(self, forward: ForwardMsg, exceptions: list[str]) -> None:
        delta = forward.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            exceptions.append(f"{element.exception.type}: {element.exception.message}")
            return
        proto = getattr(element, kind, None)
        widget_id = getattr(proto, "id", "") if proto is not None else ""
        if isinstance(widget_id, str) and widget_id.startswith("$$ID"):
            label = getattr(proto, "label", "")
            self.widgets[widget_id] = Widget(widget_id, kind, label, delta.fragment_id)
