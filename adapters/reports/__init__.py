"""Executive reports: rendering (HTML e-mail, SVG charts, PDF), the kept artifacts, the mail sender."""
