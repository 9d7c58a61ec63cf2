"""The report: summary.csv, summary.md, charts and a self-contained HTML page that says which
artifact to ship under which accuracy constraint, and how sure that is.

`results` computes the numbers, `charts` draws them, `page` lays them out, `outputs` writes
them all (`write_report`, called by rule summarize).
"""
