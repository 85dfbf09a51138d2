admin_contact: ops@example.org
