#!/bin/sh
# /init of the Tideline test guest (PID 1, busybox sh). Loads the virtio disk modules, waits
# for the records partition, arms the ACPI power button and runs tl-guest, whose TL- lines go
# to the serial console. PID 1 must never exit (the kernel would panic), so it idles at the end.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Modules in dependency order, one path per line (written by guest-image.ts).
while read -r module; do
  [ -n "$module" ] && insmod "/lib/modules/$module" || echo "TL-INIT insmod-failed $module"
done < /etc/modules.order

# The kernel scans the partition table when virtio_blk binds; give it a few seconds.
tries=0
while [ ! -b /dev/vda2 ] && [ "$tries" -lt 100 ]; do
  sleep 0.1
  tries=$((tries + 1))
done

# acpid turns the power button (button.ko + evdev) into /etc/acpi/PWRF/00000080.
acpid -c /etc/acpi -l /dev/null

if [ -b /dev/vda2 ]; then
  /bin/tl-guest /dev/vda2
  echo "TL-INIT tl-guest exited status=$?"
else
  echo "TL-ERROR no /dev/vda2"
fi
while :; do sleep 3600; done
