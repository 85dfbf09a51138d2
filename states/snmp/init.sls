# The SNMP community comes from pillar (pillar/snmp.sls), 'public' if unset.
snmpd:
  pkg.installed:
    - name: snmpd
  service.running:
    - name: snmpd
    - watch:
      - file: /etc/snmp/snmpd.conf

/etc/snmp/snmpd.conf:
  file.managed:
    - source: salt://snmp/files/snmpd.conf
    - template: jinja
    - context:
        snmpcom: {{ pillar.get('snmpcom', 'public') }}
    - mode: '0600'
    - require:
      - pkg: snmpd
