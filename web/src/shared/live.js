// The `/dialer` Socket.IO connection: token auth, typed handlers, acks with a timeout, and a
// resynchronisation on every (re)connection; plus the ordering rules that merge pushes and reads.
import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 8000;

// The call state machine's ranks (gateway/callstate.py): a call only ever moves up.
const CALL_RANK = { queued: 0, initiated: 1, ringing: 2, "in-progress": 3, completed: 4 };

export function callRank(status) {
  return CALL_RANK[status] ?? -1;
}

/** A server timestamp as microseconds since the epoch, so that ISO strings of any precision compare. */
export function instant(iso) {
  if (!iso) return -Infinity;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return -Infinity;
  const fraction = /T[^.]*\.(\d+)/.exec(iso);
  const micros = fraction ? Number(fraction[1].padEnd(6, "0").slice(3, 6)) : 0;
  return ms * 1000 + micros;
}

/** Whether presence `a` ({since}) is older than `b`: every change of state moves `since`. */
export function olderPresence(a, b) {
  return Boolean(a && b) && instant(a.since) < instant(b.since);
}

/**
 * The live connection. `onStatus(state, detail)` hears "connected", "syncing", "disconnected" and
 * "error". Pushes sent while a socket is away (or before it joined its rooms) are never replayed,
 * so `onConnect()` runs on every connection, first and later: it re-reads what pushes keep
 * current. The badge says "syncing" until it is done, and "connected" only then.
 */
export function connectLive(token, { onStatus, onConnect } = {}) {
  const socket = io("/dialer", {
    auth: { token },
    transports: ["websocket", "polling"],
    reconnectionDelayMax: 5000,
  });
  const status = (state, detail) => onStatus && onStatus(state, detail);
  let heartbeat = null;
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
  };
  let connection = 0;
  socket.on("connect", async () => {
    const mine = ++connection;
    if (onConnect) {
      status("syncing");
      try {
        await onConnect();
      } catch (err) {
        console.error("resync failed", err);
      }
      // Dropped again meanwhile: the next connection syncs and says so.
      if (mine !== connection || !socket.connected) return;
    }
    status("connected");
  });
  // Presence counts a silent socket as gone after a grace period: say we are still here.
  socket.on("hello", ({ heartbeat_interval_s: every }) => {
    stopHeartbeat();
    heartbeat = setInterval(() => socket.emit("heartbeat", {}), every * 1000);
  });
  socket.on("disconnect", (reason) => {
    stopHeartbeat();
    status("disconnected", reason);
  });
  socket.on("connect_error", (err) => {
    const reason = err && err.message;
    status("error", reason);
    // A refused token will not get better by reconnecting: back to the sign-in form.
    if (reason === "invalid_token" || reason === "unauthorized") {
      socket.close();
      sessionStorage.removeItem("dialgate.token");
      window.dispatchEvent(new CustomEvent("dialgate:logout"));
    }
  });
  return {
    socket,
    on(event, handler) {
      socket.on(event, handler);
    },
    /** Emit with an ack; a server without the event never acks, which reads as unsupported. */
    async request(event, data) {
      try {
        const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data ?? {});
        return ack ?? { ok: true };
      } catch {
        return {
          ok: false,
          code: socket.connected ? "unsupported" : "offline",
          message: socket.connected
            ? `this gateway does not answer "${event}" yet`
            : "not connected to the gateway",
        };
      }
    },
    send(event, data) {
      socket.emit(event, data ?? {});
    },
    close() {
      stopHeartbeat();
      socket.close();
    },
  };
}

const CONNECTION_TEXT = {
  connected: "Live",
  syncing: "Syncing…",
  connecting: "Connecting…",
  disconnected: "Reconnecting…",
  // The client keeps retrying (a refused token signs out instead): the gateway is unreachable.
  error: "Offline — reconnecting…",
};

/** The connection badge; the page carries the state too (`body[data-conn]`) so stale panels can say so. */
export function showConnection(badge, status, detail) {
  badge.dataset.state = status;
  badge.textContent = CONNECTION_TEXT[status] || "Reconnecting…";
  badge.title =
    status === "connected"
      ? "Live updates are on"
      : status === "syncing"
        ? "Reconnected: catching up on what changed meanwhile"
        : `Not connected${detail ? ` (${detail})` : ""}: what you see may be out of date until the console reconnects`;
  document.body.dataset.conn = status;
}
