"""Mail delivery adapters: console (development), SMTP (aiosmtplib) and Amazon SES (boto3)."""
