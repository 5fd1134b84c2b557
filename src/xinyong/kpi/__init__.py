"""Platform metrics: usage of the credit file, and how subjects' rights are served."""
