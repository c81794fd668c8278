"""The CRM warehouse: settings, connections, loads, publish and the `crmwh` command line."""
