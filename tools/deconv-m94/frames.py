import sys, glob, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
fs=sorted(glob.glob(''+__import__('os').environ.get('M94','../shared/data/seestar-m94-s3')+'/*.fit'))
for f in fs:
    a,h=read(f)
    # 2x2 superpixel: GRBG -> G = (a[0::2,0::2]+a[1::2,1::2])/2
    G=(a[0::2,0::2]+a[1::2,1::2])/2
    bg=np.median(G)
    cy,cx=1252//2,993//2
    win=G[cy-40:cy+41,cx-40:cx+41]-bg
    # brightest star in window, expect near the centre
    sm=nd.gaussian_filter(win,1)
    py,px=np.unravel_index(np.argmax(sm),sm.shape)
    st=win[py-5:py+6,px-5:px+6]
    st=np.clip(st,0,None)
    yy,xx=np.mgrid[-5:6,-5:6]
    s=st.sum(); mx=(st*xx).sum()/s; my=(st*yy).sum()/s
    vxx=(st*(xx-mx)**2).sum()/s; vyy=(st*(yy-my)**2).sum()/s; vxy=(st*(xx-mx)*(yy-my)).sum()/s
    print("%s peak %6.0f at (%d,%d) raw-superpix; sxx %.2f syy %.2f sxy %+.2f  ratio x/y %.2f; max raw %.0f"%(f.split('_')[-1],win[py,px],cx-40+px,cy-40+py,vxx,vyy,vxy,np.sqrt(vxx/vyy),a[2*(cy-40+py)-4:2*(cy-40+py)+5,2*(cx-40+px)-4:2*(cx-40+px)+5].max()))
