"""SIP user agent: messages, digest auth, transactions, dialogs, transports (RFC 3261)."""
