"""Telling people: mail over SMTP (smtplib) and/or a command, for failure (always), success and
deletion (when the job asks for them)."""

from __future__ import annotations

import os
import smtplib
import socket
from email.message import EmailMessage

from stackwatch.backup.config import Job, Mail
from stackwatch.core.host import Host, HostError

COMMAND_TIMEOUT = 120.0


def wanted(job: Job, event: str) -> bool:
    return event == "failure" or event in job.notify_on


def send(
    host: Host, job_name: str, job: Job, mail: Mail, event: str, subject: str, body: str
) -> list[str]:
    """Send one notification; returns the problems (a notification that fails must not hide
    the outcome of the backup, so it is reported, not raised)."""
    if not wanted(job, event):
        return []
    problems: list[str] = []
    if job.notify_email:
        try:
            send_mail(host, mail, job.notify_email, subject, body)
        except (OSError, HostError, smtplib.SMTPException) as exc:
            problems.append(f"mail to {', '.join(job.notify_email)} failed: {exc}")
    if job.notify_command:
        problems += run_command(host, job_name, job.notify_command, event, subject, body)
    return problems


def run_command(
    host: Host, job_name: str, argv: list[str], event: str, subject: str, body: str
) -> list[str]:
    """The notify command, with the message on its input and the event in its environment."""
    env = {
        "STACKWATCH_BACKUP_JOB": job_name,
        "STACKWATCH_BACKUP_EVENT": event,
        "STACKWATCH_BACKUP_SUBJECT": subject,
    }
    try:
        done = host.run(
            argv,
            input_text=body,
            env=env,
            timeout=COMMAND_TIMEOUT,
            check=False,
            what="notify command",
        )
    except HostError as exc:
        return [f"notify command failed: {exc}"]
    if done.returncode != 0:
        return [f"notify command exited with status {done.returncode}"]
    return []


def send_mail(host: Host, mail: Mail, recipients: list[str], subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[stackwatch backup {socket.gethostname()}] {subject}"
    message.set_content(body)
    with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout) as smtp:
        if mail.starttls:
            smtp.starttls()
        if mail.username:
            password = ""
            if mail.password_file:
                password = host.read_text(os.path.abspath(mail.password_file)).strip()
            smtp.login(mail.username, password)
        smtp.send_message(message)
