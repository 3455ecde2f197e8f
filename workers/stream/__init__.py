"""The thin Faust shell around :mod:`workers.core`: app, topics, table, agents, web pages."""
