"""One decision carried between pages: its state in the URL, and the one-page summary (Markdown and PDF)."""
