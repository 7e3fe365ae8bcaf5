#!/usr/bin/env python3
"""An independent Cordon client written only from docs/PROTOCOL.md.

It proves the document is enough to build a working visitor client and agent client:

  1. logs an agent in (POST /api/v1/auth/login), opens /ws/agent with the session cookie and the console Origin,
     says hello and goes online;
  2. connects a visitor (/ws/visitor, hello with the widget key), keeps its visitor_token, opens a conversation;
  3. exchanges messages both ways, checks acks, seq numbers, idempotent retries and card redaction, including a
     card number typed in two messages, which the server holds back and masks together (PROTOCOL.md 8.7);
  4. drops the visitor's socket, lets the agent write while it is gone, reconnects the visitor with its token and
     resumes with `sync`, checking every missed message arrives exactly once and the live stream continues;
  5. closes the conversation (closing it again is an error) and sets the agent offline again.

Exit status 0 means every check passed. Needs Python 3.9+ and the `websockets` package (pip install websockets).
Run `client.py --help` for options; tests/protocol_client/README.md explains how to start a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Optional

try:
    from websockets.asyncio.client import connect as ws_connect
except ImportError:  # websockets < 13
    from websockets import connect as ws_connect  # type: ignore

import websockets

TIMEOUT = 10.0
TRACE = False


class Failure(Exception):
    """A protocol check failed."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)
    print(f"  ok  {what}")


def warn(what: str) -> None:
    print(f"  --  {what} (best-effort per PROTOCOL.md; not counted as a failure)")


def origin_of(base: str) -> str:
    u = urllib.parse.urlsplit(base)
    return f"{u.scheme}://{u.netloc}"


def ws_url(base: str, path: str) -> str:
    u = urllib.parse.urlsplit(base)
    scheme = "wss" if u.scheme == "https" else "ws"
    return f"{scheme}://{u.netloc}{path}"


# ---- HTTP (PROTOCOL.md 3.2, 15) ---------------------------------------------------------------------------


def http(base: str, method: str, path: str, body: Any = None, headers: Optional[dict] = None):
    """Returns (status, headers, parsed JSON body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"Accept": "application/json"}
    if data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, hdrs, json.loads(text) if text else None
    except ValueError:
        return status, hdrs, text


def login(base: str, tenant: str, username: str, password: str) -> tuple[str, dict]:
    """Sign an agent in; returns the `cordon_session=...` cookie pair and the response body."""
    status, hdrs, body = http(
        base,
        "POST",
        "/api/v1/auth/login",
        {"tenant": tenant, "username": username, "password": password},
        {"Origin": origin_of(base)},
    )
    if status != 200:
        raise Failure(f"login as {tenant}/{username} failed: HTTP {status} {body}")
    cookie = None
    for value in hdrs.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0].strip()
        if pair.startswith("cordon_session="):
            cookie = pair
    if not cookie:
        raise Failure("login answered 200 without a cordon_session cookie")
    return cookie, body


# ---- WebSocket connections (PROTOCOL.md 2, 6, 7) ----------------------------------------------------------


class Conn:
    """One socket: a reader task puts every server frame into a backlog; `expect` waits for a matching one."""

    def __init__(self, name: str, ws) -> None:
        self.name = name
        self.ws = ws
        self.backlog: list[dict] = []
        self.arrived = asyncio.Event()
        self.closed: Optional[BaseException] = None
        # Per conversation: the highest seq processed (PROTOCOL.md 8.4, "deduplicate by seq").
        self.last_seq: dict[str, int] = {}
        # Messages in the order they were accepted, and raw duplicates seen (seq <= last_seq).
        self.messages: dict[str, list[dict]] = {}
        self.duplicates: list[dict] = []
        self.received = 0  # frames received so far; each frame gets its arrival number as "_n"
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, name: str, url: str, headers: Optional[dict] = None) -> "Conn":
        kwargs: dict = {"open_timeout": TIMEOUT, "max_size": 2**20}
        if headers:
            kwargs["additional_headers"] = headers
        ws = await ws_connect(url, **kwargs)
        return cls(name, ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    continue  # the server only sends text frames
                frame = json.loads(raw)
                if TRACE:
                    print(f"    {self.name} <- {raw}")
                self.received += 1
                frame["_n"] = self.received
                if frame.get("type") == "message":
                    self._on_message(frame)
                self.backlog.append(frame)
                self.arrived.set()
        except websockets.ConnectionClosed as e:
            self.closed = e
        except Exception as e:  # noqa: BLE001 - surfaced through expect()
            self.closed = e
        finally:
            self.arrived.set()

    def _on_message(self, m: dict) -> None:
        cid, seq = m["conversation_id"], m["seq"]
        last = self.last_seq.get(cid, 0)
        if seq <= last:
            self.duplicates.append(m)
            m["_duplicate"] = True
            return
        if seq != last + 1:
            # PROTOCOL.md 8.4: never happens on one connection once a cursor is set.
            m["_gap"] = last
        self.last_seq[cid] = seq
        self.messages.setdefault(cid, []).append(m)

    async def send(self, frame: dict) -> None:
        text = json.dumps(frame)
        if TRACE:
            print(f"    {self.name} -> {text}")
        await self.ws.send(text)

    async def expect(self, pred: Callable[[dict], bool], what: str, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.backlog):
                if pred(f):
                    return self.backlog.pop(i)
            if self.closed is not None:
                raise Failure(f"{self.name}: connection closed while waiting for {what}: {self.closed!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [f.get("type") for f in self.backlog][-20:]
                raise Failure(f"{self.name}: no {what} within {timeout}s (unconsumed frames: {kinds})")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def expect_type(self, t: str, timeout: float = TIMEOUT, **fields) -> dict:
        def pred(f: dict) -> bool:
            return f.get("type") == t and all(f.get(k) == v for k, v in fields.items())

        return await self.expect(pred, f"'{t}' frame {fields or ''}", timeout)

    async def hello(self, **fields) -> dict:
        await self.send({"type": "hello", "v": 1, **fields})
        f = await self.expect(lambda f: f.get("type") in ("welcome", "error"), "welcome")
        if f["type"] == "error":
            raise Failure(f"{self.name}: hello refused: {f['code']}: {f['message']}")
        return f

    async def send_message(self, cid: str, client_msg_id: str, text: str) -> dict:
        """message.send, then wait for its ack (or an error with ref = client_msg_id)."""
        await self.send({"type": "message.send", "conversation_id": cid, "client_msg_id": client_msg_id, "text": text})
        f = await self.expect(
            lambda f: (f.get("type") == "message.ack" and f.get("client_msg_id") == client_msg_id)
            or (f.get("type") == "error" and f.get("ref") == client_msg_id),
            f"ack for {client_msg_id}",
        )
        if f["type"] == "error":
            raise Failure(f"{self.name}: message {client_msg_id} refused: {f['code']}: {f['message']}")
        return f

    async def message(self, cid: str, client_msg_id: str, timeout: float = TIMEOUT) -> dict:
        """Wait until the message with this client_msg_id has been received (deduplicated) on this connection."""

        def seen() -> Optional[dict]:
            for m in self.messages.get(cid, []):
                if m["client_msg_id"] == client_msg_id:
                    return m
            return None

        deadline = time.monotonic() + timeout
        while (m := seen()) is None:
            if self.closed is not None:
                raise Failure(f"{self.name}: closed while waiting for message {client_msg_id}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: message {client_msg_id} not received within {timeout}s")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass
        return m

    async def quiet(self, seconds: float) -> None:
        """Let frames arrive for a while (used before counting)."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        try:
            await self.ws.close()
        finally:
            self.reader.cancel()


# ---- the scenario -----------------------------------------------------------------------------------------


def load_demo_credentials(path: str, tenant: str) -> tuple[str, str, str]:
    """(agent username, password, widget key) of `tenant` from `cordon demo`'s demo-credentials.json."""
    with open(path, encoding="utf-8") as f:
        creds = json.load(f)
    accounts = [a for a in creds["accounts"] if a["tenant"] == tenant]
    agents = [a for a in accounts if a["role"] == "agent"] or accounts
    if not agents:
        raise Failure(f"no account of tenant {tenant!r} in {path}")
    keys = {slug: key for slug, key in creds["widget_keys"]}
    if tenant not in keys:
        raise Failure(f"no widget key of tenant {tenant!r} in {path}")
    return agents[0]["username"], agents[0]["password"], keys[tenant]


async def scenario(args) -> None:
    base = args.base.rstrip("/")
    origin = origin_of(base)
    run = f"{int(time.time())}-{os.getpid()}"  # makes client_msg_ids unique per run

    print("agent: log in")
    cookie, me = login(base, args.tenant, args.username, args.password)
    agent_id = me["agent"]["id"]
    check(me["agent"]["role"] in ("agent", "admin"), f"logged in as {args.tenant}/{args.username} ({agent_id})")

    print("agent: open /ws/agent, hello, go online")
    agent = await Conn.open("agent", ws_url(base, "/ws/agent"), {"Cookie": cookie, "Origin": origin})
    welcome = await agent.hello()
    check(welcome["role"] == "agent" and welcome["agent"]["id"] == agent_id, "agent welcome names the agent")
    check(welcome["v"] == 1, "protocol version 1 agreed")
    await agent.send({"type": "status.set", "status": "online"})
    n = await agent.expect_type("notice", code="status")
    check(n["message"] == "online", "agent is online")

    print("visitor: open /ws/visitor, hello with the widget key")
    visitor = await Conn.open("visitor", ws_url(base, "/ws/visitor"))
    vw = await visitor.hello(widget_key=args.widget_key)
    token = vw.get("visitor_token")
    check(vw["role"] == "visitor" and bool(token), "new visitor gets a visitor_token")
    visitor_id = vw["visitor_id"]
    limits = vw["limits"]
    check(limits["max_text_chars"] >= 100, f"limits announced: {limits}")

    print("visitor: open a conversation")
    await visitor.send({"type": "conversation.open"})
    conv = (await visitor.expect_type("conversation"))["conversation"]
    cid = conv["id"]
    check(conv["visitor_id"] == visitor_id, f"conversation {cid} opened ({conv['state']})")
    if conv["state"] == "queued":
        # PROTOCOL.md 6.9: an agent may take a queued conversation.
        await agent.send({"type": "conversation.accept", "conversation_id": cid})
    elif conv["state"] == "assigned" and conv["agent"]["id"] != agent_id:
        raise Failure(
            f"the conversation was assigned to another online agent ({conv['agent']['name']}); "
            "set that agent offline or log in as it"
        )

    def assigned_to_me(f: dict) -> bool:
        c = f.get("conversation") or {}
        return (
            f.get("type") == "conversation.updated"
            and c.get("id") == cid
            and c.get("state") == "assigned"
            and (c.get("agent") or {}).get("id") == agent_id
        )

    try:
        await agent.expect(assigned_to_me, "conversation.updated assigning the conversation to the agent")
    except Failure:
        errs = [f for f in agent.backlog if f.get("type") == "error"]
        raise Failure(f"the conversation was not assigned to the agent; agent errors: {errs}") from None
    check(True, "agent sees the conversation assigned to it")

    print("messages both ways")
    v1 = f"v-{run}-1"
    ack = await visitor.send_message(cid, v1, "Hello, my flight was cancelled")
    check(ack["duplicate"] is False and ack["seq"] >= 1, f"visitor message acked with seq {ack['seq']}")
    m = await agent.message(cid, v1)
    check(m["seq"] == ack["seq"] and m["text"] == "Hello, my flight was cancelled", "agent receives it with the same seq")
    check(m["sender"]["kind"] == "visitor" and m["sender"]["id"] == visitor_id, "sender is the visitor")
    echo = await visitor.message(cid, v1)
    check(echo["seq"] == ack["seq"], "visitor sees its own message come back with its seq")

    await agent.send({"type": "typing", "conversation_id": cid, "active": True})
    try:
        t = await visitor.expect_type("typing", timeout=3, conversation_id=cid)
        check(t["from"]["kind"] == "agent" and t["active"] is True, "visitor sees the agent typing")
    except Failure:
        warn("typing event not seen by the visitor")

    a1 = f"a-{run}-1"
    ack_a1 = await agent.send_message(cid, a1, "Sorry to hear that! Let me look.")
    check(ack_a1["seq"] > ack["seq"], f"agent message acked with seq {ack_a1['seq']}")
    m = await visitor.message(cid, a1)
    check(m["sender"]["kind"] == "agent" and m["sender"]["id"] == agent_id, "visitor receives the agent's message")

    await visitor.send({"type": "read", "conversation_id": cid, "seq": ack_a1["seq"]})
    try:
        r = await agent.expect_type("read", timeout=3, conversation_id=cid)
        check(r["by"]["kind"] == "visitor" and r["seq"] == ack_a1["seq"], "agent sees the read receipt")
    except Failure:
        warn("read event not seen by the agent")

    print("idempotent retry")
    dup = await visitor.send_message(cid, v1, "Hello, my flight was cancelled")
    check(dup["duplicate"] is True and dup["seq"] == ack["seq"], "resending the same client_msg_id gives a duplicate ack with the original seq")

    print("card numbers are masked")
    v2 = f"v-{run}-2"
    ack_v2 = await visitor.send_message(cid, v2, "my card is 4111 1111 1111 1111")
    n = await visitor.expect_type("notice", code="card_redacted")
    check(n.get("conversation_id") == cid, "visitor gets the card_redacted notice")
    m = await agent.message(cid, v2)
    check("4111 1111 1111" not in m["text"] and "1111" in m["text"], f"agent sees masked text: {m['text']!r}")

    print("a card number typed in two messages is held back and masked together")
    # PROTOCOL.md 8.7: a visitor message made only of digit groups that could begin a card is held (no ack, not
    # delivered) until the visitor's next message or the fragment window (5 s by default) has passed; then the
    # pieces are stored and acked in order, the earlier one as "••••", the last one with the card's mask.
    window = args.fragment_window
    p1, p2 = f"v-{run}-piece-1", f"v-{run}-piece-2"
    await visitor.send({"type": "message.send", "conversation_id": cid, "client_msg_id": p1, "text": "4111 1111"})
    if window >= 2:
        await visitor.quiet(min(1.0, window / 4))
        early = [f for f in visitor.backlog if f.get("type") == "message.ack" and f.get("client_msg_id") == p1]
        check(not early, "the first piece is not acked while it is held")
        check(all(m["client_msg_id"] != p1 for m in agent.messages.get(cid, [])), "nor delivered to the agent")
    await visitor.send({"type": "message.send", "conversation_id": cid, "client_msg_id": p2, "text": "1111 1111"})
    sent_at = time.monotonic()
    # No ack for a few seconds is not an error: allow for the window (restarted by the second piece) and more.
    patience = 3 * window + TIMEOUT

    def ack_or_error(cmid: str) -> Callable[[dict], bool]:
        return lambda f: (f.get("type") == "message.ack" and f.get("client_msg_id") == cmid) or (
            f.get("type") == "error" and f.get("ref") == cmid
        )

    ack_p1 = await visitor.expect(ack_or_error(p1), f"ack for {p1}", patience)
    ack_p2 = await visitor.expect(ack_or_error(p2), f"ack for {p2}", patience)
    for f in (ack_p1, ack_p2):
        if f["type"] == "error":
            raise Failure(f"visitor: piece {f['ref']} refused: {f['code']}: {f['message']}")
    waited = time.monotonic() - sent_at
    check(ack_p1["_n"] < ack_p2["_n"], f"both pieces acked, in the order sent (after {waited:.1f}s)")
    check(ack_p1["seq"] < ack_p2["seq"] and not ack_p1["duplicate"] and not ack_p2["duplicate"],
          f"stored in order: seq {ack_p1['seq']} then {ack_p2['seq']}")
    notices = []
    for _ in range(2):
        try:
            notices.append(await visitor.expect_type("notice", timeout=2, code="card_redacted"))
        except Failure:
            break
    check(bool(notices) and all(n.get("conversation_id") == cid for n in notices), "visitor gets card_redacted")
    m1 = await agent.message(cid, p1)
    m2 = await agent.message(cid, p2)
    seen_digits = "".join(ch for ch in m1["text"] + m2["text"] if ch.isdigit())
    check(seen_digits == "1111", f"the agent sees only the last four digits: {m1['text']!r}, {m2['text']!r}")
    check((m1["seq"], m2["seq"]) == (ack_p1["seq"], ack_p2["seq"]), "the agent gets them with the acked seqs")
    e2 = await visitor.message(cid, p2)
    check("4111" not in e2["text"] and "1111" in e2["text"], f"the visitor's own echo is masked too: {e2['text']!r}")

    # Nothing was delivered twice on either connection so far (raw duplicates are counted before dedupe).
    await visitor.quiet(0.3)
    check(not visitor.duplicates and not agent.duplicates, "no duplicate message frames on live connections")
    check(all("_gap" not in m for m in visitor.messages[cid] + agent.messages[cid]), "no seq gaps")

    print("visitor disconnects; the agent writes meanwhile")
    visitor_last = visitor.last_seq[cid]
    await visitor.close()
    missed = []
    for i in range(1, 4):
        cmid = f"a-{run}-away-{i}"
        a = await agent.send_message(cid, cmid, f"Message {i} while you were away")
        missed.append((cmid, a["seq"]))
    check([s for _, s in missed] == list(range(missed[0][1], missed[0][1] + 3)), f"seqs are consecutive: {[s for _, s in missed]}")

    print("visitor reconnects with its token and resumes with sync")
    visitor2 = await Conn.open("visitor2", ws_url(base, "/ws/visitor"))
    vw2 = await visitor2.hello(widget_key=args.widget_key, visitor_token=token)
    check("visitor_token" not in vw2 and vw2["visitor_id"] == visitor_id, "the token brings back the same visitor")
    listed = {c["id"]: c for c in vw2["conversations"]}
    check(cid in listed, "welcome lists the conversation")
    server_last = listed[cid]["last_seq"]
    check(server_last == missed[-1][1], f"welcome's last_seq is exact ({server_last})")
    # PROTOCOL.md 8.5: our own last_seq seeds the new connection's dedupe state and the sync.
    visitor2.last_seq[cid] = visitor_last
    await visitor2.send({"type": "sync", "conversation_id": cid, "after_seq": visitor_last})
    synced = await visitor2.expect_type("synced", conversation_id=cid)
    got = [(m["client_msg_id"], m["seq"]) for m in visitor2.messages.get(cid, [])]
    check(got == missed, f"sync delivered exactly the missed messages {[s for _, s in got]}")
    check(synced["last_seq"] == server_last, "synced.last_seq is the last seq")
    check(not visitor2.duplicates, "nothing delivered twice by the resume")

    print("the live stream continues after the resume")
    a_live = f"a-{run}-live"
    ack_live = await agent.send_message(cid, a_live, "Welcome back!")
    m = await visitor2.message(cid, a_live)
    check(m["seq"] == ack_live["seq"] == server_last + 1, "the next live message follows without a gap")
    v3 = f"v-{run}-3"
    ack_v3 = await visitor2.send_message(cid, v3, "Thanks, I'm back")
    m = await agent.message(cid, v3)
    check(m["seq"] == ack_v3["seq"], "agent receives the resumed visitor's message")
    await visitor2.quiet(0.3)
    all_v = [m["seq"] for m in visitor2.messages[cid]]
    check(all_v == list(range(visitor_last + 1, visitor_last + 1 + len(all_v))), "resumed connection: gap-free, in order")
    check(not visitor2.duplicates and not agent.duplicates, "exactly once on every connection")

    print("close the conversation and go offline")
    await visitor2.send({"type": "conversation.close", "conversation_id": cid})

    def closed(f: dict) -> bool:
        c = f.get("conversation") or {}
        return f.get("type") == "conversation.updated" and c.get("id") == cid and c.get("state") == "closed"

    await visitor2.expect(closed, "conversation.updated (closed)")
    await agent.expect(closed, "conversation.updated (closed)")
    check(True, "both sides see the conversation closed")
    # PROTOCOL.md 7.3: each update reaches a connection once.
    await agent.quiet(0.5)
    check(not any(closed(f) for f in agent.backlog + visitor2.backlog), "each side got that update once")
    # PROTOCOL.md 6.8: closing a closed conversation is an error.
    await visitor2.send({"type": "conversation.close", "conversation_id": cid})
    err = await visitor2.expect_type("error")
    check(err["code"] == "conversation_closed", "closing it again: conversation_closed")
    await agent.send({"type": "status.set", "status": "offline"})
    n = await agent.expect_type("notice", code="status")
    check(n["message"] == "offline", "agent is offline again")

    print("errors carry ref; history over HTTP")
    await visitor2.send({"type": "message.send", "conversation_id": cid, "client_msg_id": f"v-{run}-late", "text": "hello?"})
    err = await visitor2.expect_type("error", ref=f"v-{run}-late")
    check(err["code"] == "conversation_closed", "sending into a closed conversation: conversation_closed with ref")

    # PROTOCOL.md 15.3: page through the history with after_seq, using the agent's session cookie.
    history, after = [], 0
    while True:
        status, _, page = http(base, "GET", f"/api/v1/conversations/{cid}/messages?after_seq={after}&limit=3",
                               headers={"Cookie": cookie})
        if status != 200:
            raise Failure(f"history page after_seq={after} failed: HTTP {status} {page}")
        history += page["messages"]
        if page.get("next_after_seq") is None:
            break
        after = page["next_after_seq"]
    seqs = [m["seq"] for m in history]
    check(seqs == list(range(1, len(seqs) + 1)), f"HTTP history, paged by after_seq, is gap-free 1..{len(seqs)}")
    check(any(m["client_msg_id"] == v3 for m in history), "HTTP history holds the messages")
    status, _, body = http(base, "GET", "/api/v1/conversations/c_doesnotexist", headers={"Cookie": cookie})
    check(status == 404 and body["error"]["code"] == "not_found", "HTTP errors are {\"error\":{\"code\",\"message\"}}")

    await visitor2.close()
    await agent.close()


def main() -> int:
    global TRACE
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=os.environ.get("CORDON_BASE", "http://127.0.0.1:18123"),
                   help="the server's base URL (also the console origin); default %(default)s")
    p.add_argument("--credentials", default=os.environ.get("CORDON_DEMO_CREDENTIALS", "/tmp/protodemo/demo-credentials.json"),
                   help="cordon demo's demo-credentials.json; default %(default)s")
    p.add_argument("--tenant", default="skyway", help="tenant slug; default %(default)s")
    p.add_argument("--username", help="agent username (default: the tenant's agent in the credentials file)")
    p.add_argument("--password", help="agent password (default: from the credentials file)")
    p.add_argument("--widget-key", help="the tenant's widget key (default: from the credentials file)")
    p.add_argument("--fragment-window", type=float, default=5.0,
                   help="the server's fragment window in seconds (cordon serve --fragment-window-ms / 1000); "
                        "default %(default)s")
    p.add_argument("--trace", action="store_true", help="print every frame sent and received")
    args = p.parse_args()
    TRACE = args.trace
    try:
        if not (args.username and args.password and args.widget_key):
            user, pw, wk = load_demo_credentials(args.credentials, args.tenant)
            args.username = args.username or user
            args.password = args.password or pw
            args.widget_key = args.widget_key or wk
        asyncio.run(scenario(args))
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (OSError, websockets.WebSocketException) as e:
        print(f"FAIL: cannot talk to the server at {args.base}: {e!r}", file=sys.stderr)
        return 2
    print("PASS: the protocol works as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
