"""switchboard.v1 from an independent RFC 6455 client (python3-websockets), run by
ws-python.test.mjs. Prints one JSON object: {"checks": {name: {"ok": bool, "detail": str}}}.

Usage: ws_interop.py PORT TOPIC (the server runs with --max-message-bytes 200000).
"""
import asyncio
import json
import sys
import urllib.request

import websockets

PORT = int(sys.argv[1])
TOPIC = sys.argv[2]
URL = f"ws://127.0.0.1:{PORT}/v1/ws"
checks = {}


def check(name, ok, detail=""):
    checks[name] = {"ok": bool(ok), "detail": str(detail)[:400]}


async def recv_json(ws, pred, timeout=5.0):
    async def loop():
        while True:
            m = json.loads(await ws.recv())
            if pred(m):
                return m
    return await asyncio.wait_for(loop(), timeout)


def http_publish(topic, data):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/topics/{topic}", data=data.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as res:
        return res.status, json.loads(res.read())


async def main():
    # 1. Handshake: the subprotocol is selected; the permessage-deflate offer (websockets offers it
    #    by default, with client_max_window_bits) is accepted, so everything below, both ways, is
    #    compressed: websockets' own inflater checks our frames.
    async with websockets.connect(URL, subprotocols=["switchboard.v1"], max_size=2**22, open_timeout=5) as ws:
        check("subprotocol", ws.subprotocol == "switchboard.v1", ws.subprotocol)
        names = [type(e).__name__ for e in ws.extensions]
        deflate = ws.extensions[0] if ws.extensions else None
        check("deflate", names == ["PerMessageDeflate"] and deflate.remote_no_context_takeover
              and deflate.local_max_window_bits == 12, names)

        # 2. A fragmented text message from the client is reassembled.
        await ws.send(['{"op":"ping",', '"ref":"frag', 'mented"}'])
        m = await recv_json(ws, lambda x: x.get("op") == "pong")
        check("fragmented_send", m == {"op": "pong", "ref": "fragmented"}, m)

        # 3. A control ping is answered with a pong.
        waiter = await ws.ping(b"py")
        try:
            await asyncio.wait_for(waiter, 3)
            check("control_ping", True)
        except Exception as e:  # noqa: BLE001
            check("control_ping", False, repr(e))

        # 4. A message over 65535 bytes (64-bit length on the wire) arrives whole.
        await ws.send(json.dumps({"op": "subscribe", "topic": TOPIC, "ref": "s"}))
        ack = await recv_json(ws, lambda x: x.get("ref") == "s")
        check("subscribe_ack", ack == {"op": "ack", "ref": "s"}, ack)
        big = "é" * 50000 + "end"  # 100,003 bytes of UTF-8
        status, body = await asyncio.get_running_loop().run_in_executor(None, http_publish, TOPIC, big)
        m = await recv_json(ws, lambda x: x.get("op") == "message")
        check("big_message", status == 201 and m.get("data") == big and m.get("id") == body.get("id"),
              f"status {status}, got {len(m.get('data', ''))} chars, id {m.get('id')} vs {body.get('id')}")

        # 5. Client-initiated close: the server echoes the code.
        await ws.close(code=4000, reason="done")
        check("close_echo", ws.close_code == 4000, f"close_code {ws.close_code} reason {ws.close_reason!r}")

    # 6. A message over the frame limit (2*max_message_bytes+4096) closes the connection with 1009:
    #    compressed, it is a few hundred bytes on the wire; inflating stops at the limit.
    async with websockets.connect(URL, subprotocols=["switchboard.v1"], open_timeout=5) as ws:
        try:
            await ws.send("x" * (2 * 200000 + 4096 + 1))
            await asyncio.wait_for(ws.recv(), 5)
            check("too_big_1009", False, "no close")
        except websockets.exceptions.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
            check("too_big_1009", code == 1009, f"rcvd {code}")

    # 7. Without the subprotocol the handshake is refused with 400.
    try:
        async with websockets.connect(URL, open_timeout=5):
            check("no_subprotocol_400", False, "accepted")
    except websockets.exceptions.InvalidStatusCode as e:
        check("no_subprotocol_400", e.status_code == 400, e.status_code)


try:
    asyncio.run(asyncio.wait_for(main(), 30))
except Exception as e:  # noqa: BLE001
    check("completed", False, repr(e))
else:
    check("completed", True)
print(json.dumps({"checks": checks}))
