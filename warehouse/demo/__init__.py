"""The demo CRM: the operational database the pipeline extracts from, generated with planted structure."""
