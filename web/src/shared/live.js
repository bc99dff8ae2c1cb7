// The `/dialer` Socket.IO connection: token auth, typed handlers, acks with a timeout.
import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 8000;

export function connectLive(token, { onStatus } = {}) {
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
  socket.on("connect", () => status("connected"));
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
