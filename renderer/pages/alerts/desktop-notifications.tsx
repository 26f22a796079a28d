import NotificationsActive from '@mui/icons-material/NotificationsActive';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import { useAlertsStore } from '../../stores/alerts-store';

/**
 * Whether a raised RPO alert reaches the desktop. In a browser the admin turns it on with a
 * click (browsers only ask from a user gesture); the Electron shell always notifies.
 */
export function DesktopNotifications() {
  const state = useAlertsStore((s) => s.notifications);
  const enable = useAlertsStore((s) => s.enableNotifications);
  switch (state) {
    case 'shell':
    case 'granted':
      return (
        <Alert severity="success" icon={<NotificationsActive />} role="status">
          Desktop notifications are on: a raised RPO alert shows on your desktop.
        </Alert>
      );
    case 'default':
      return (
        <Alert
          severity="info"
          role="status"
          action={
            <Button color="inherit" size="small" onClick={() => void enable()}>
              Enable desktop notifications
            </Button>
          }
        >
          Get a desktop notification when an RPO alert is raised, while this page is open.
        </Alert>
      );
    case 'denied':
      return (
        <Alert severity="warning" role="status">
          This browser blocks notifications from the console, so raised RPO alerts only show here.
          To get them on your desktop, allow notifications for this address in the browser’s site
          settings, then reload the page.
        </Alert>
      );
    case 'unsupported':
      return (
        <Alert severity="info" role="status">
          This browser cannot show desktop notifications; raised RPO alerts only show here.
        </Alert>
      );
  }
}
