"""The dialer: click-to-call orchestration and the live Socket.IO channel to agents and managers."""
