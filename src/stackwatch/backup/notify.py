"""Telling people: mail over SMTP (smtplib) and/or a command, for failure (always), success and
deletion (when the job asks for them)."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
from email.message import EmailMessage
from pathlib import Path

from stackwatch.backup.config import Job, Mail


def wanted(job: Job, event: str) -> bool:
    return event == "failure" or event in job.notify_on


def send(job_name: str, job: Job, mail: Mail, event: str, subject: str, body: str) -> list[str]:
    """Send one notification; returns the problems (a notification that fails must not hide
    the outcome of the backup, so it is reported, not raised)."""
    if not wanted(job, event):
        return []
    problems: list[str] = []
    if job.notify_email:
        try:
            send_mail(mail, job.notify_email, subject, body)
        except (OSError, smtplib.SMTPException) as exc:
            problems.append(f"mail to {', '.join(job.notify_email)} failed: {exc}")
    if job.notify_command:
        env = dict(os.environ)
        env.update(
            STACKWATCH_BACKUP_JOB=job_name,
            STACKWATCH_BACKUP_EVENT=event,
            STACKWATCH_BACKUP_SUBJECT=subject,
        )
        try:
            done = subprocess.run(
                job.notify_command,
                input=body,
                text=True,
                env=env,
                capture_output=True,
                timeout=120,
            )
            if done.returncode != 0:
                problems.append(f"notify command exited with status {done.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"notify command failed: {exc}")
    return problems


def send_mail(mail: Mail, recipients: list[str], subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[stackwatch backup {socket.gethostname()}] {subject}"
    message.set_content(body)
    with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout) as smtp:
        if mail.starttls:
            smtp.starttls()
        if mail.username:
            password = Path(mail.password_file).read_text().strip() if mail.password_file else ""
            smtp.login(mail.username, password)
        smtp.send_message(message)
