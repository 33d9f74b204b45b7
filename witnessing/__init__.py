"""The witness service: a C2SP tlog-witness (c2sp.org/tlog-witness) that another organisation
runs for a credshare log, with its own key, its own data directory and its own store."""
