"""`python -m producer_service.cli submit`: bulk upload through the public REST API.

__main__   arguments, exit status
files      which files to send, where each one's outputs go
client     the API over HTTP: submit (retrying 429/503), follow a job, download
batch      every file through submit -> follow -> download, a few at once, with progress
report     the summary table
"""
