import { consoleConnection } from '../api';

/**
 * Desktop notifications as this window can give them. shell: the Electron shell's main process
 * shows them; the others are the browser's Notification.permission, or unsupported.
 */
export type DesktopNotifications = 'shell' | 'unsupported' | 'default' | 'granted' | 'denied';

export function browserNotifications(): DesktopNotifications {
  if (consoleConnection().mode === 'electron') return 'shell';
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.permission;
}

/**
 * Shows a notification through the browser's Notification API, once permission is granted
 * (in Electron the main process notifies: main/electron/desktop-notifications.ts). A click
 * brings the window forward and runs `onClick`. `tag` replaces an earlier one of the same tag.
 */
export function showBrowserNotification(
  text: { readonly title: string; readonly body: string },
  tag: string,
  onClick: () => void,
): void {
  if (browserNotifications() !== 'granted') return;
  const notification = new Notification(text.title, { body: text.body, tag });
  notification.onclick = () => {
    window.focus();
    notification.close();
    onClick();
  };
}
