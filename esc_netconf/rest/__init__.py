"""esc_netconf.rest"""
