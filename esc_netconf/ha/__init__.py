"""Several servers on one PostgreSQL (CONTRACT section 8): the lease loop of a member and a standby's
listeners. The leadership primitive itself is the store's (``esc_netconf.store.leadership``)."""
