"""What is read out: the dashboard and the CSV exports of insights, decisions and knowledge."""
